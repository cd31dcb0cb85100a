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
