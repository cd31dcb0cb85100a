// Handlers of test-lambda.sh, written as Lambda functions are.
exports.asyncHandler = async (event, context) => {
  await new Promise((r) => setTimeout(r, 10));
  return {
    event,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    memoryLimitInMB: context.memoryLimitInMB,
    remaining: context.getRemainingTimeInMillis(),
    arn: context.invokedFunctionArn,
    greeting: process.env.GREETING,
    s3Endpoint: process.env.AWS_ENDPOINT_URL_S3,
  };
};

exports.callbackHandler = (event, context, callback) => {
  setTimeout(() => callback(null, { doubled: event.n * 2 }), 10);
};

class ThumbnailError extends Error {
  constructor(message) {
    super(message);
    this.name = "ThumbnailError";
  }
}

exports.failHandler = async (event) => {
  throw new ThumbnailError(`cannot resize ${event.key}`);
};

// Over MemorySize in V8's heap: objects kept until the heap is full.
exports.heapHog = async (event) => {
  const keep = [];
  for (let i = 0; i < (event.objects || 0); i++) keep.push({ i, s: "x".repeat(100) + i });
  return { kept: keep.length };
};

// What V8 does when its heap is past --max-old-space-size, without the
// wait: its fatal line on stderr, then abort(). The daemon cannot tell the
// two apart, and this one is not first seen by the resident-size limit.
exports.v8Fatal = async () => {
  process.stderr.write("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n");
  process.abort();
};

// Over MemorySize outside V8's heap: a Buffer written to (so it is resident)
// and held for a while.
exports.bufferHog = async (event) => {
  const b = Buffer.alloc(event.mb << 20);
  b.fill(1);
  await new Promise((r) => setTimeout(r, (event.holdSeconds || 0) * 1000));
  return { allocated: b.length >> 20 };
};
