# Handlers of test-lambda.sh, written as Lambda functions are.
import os
import signal
import time


class ImageRejected(Exception):
    pass


def echo(event, context):
    return {
        "event": event,
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "logGroup": context.log_group_name,
        "greeting": os.environ.get("GREETING"),
        "s3Endpoint": os.environ.get("AWS_ENDPOINT_URL_S3"),
        "sfnEndpoint": os.environ.get("AWS_ENDPOINT_URL_SFN"),
        "envName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "pid": os.getpid(),
    }


def fail(event, context):
    raise ImageRejected("image %s is not a photo" % event.get("key"))


def slow(event, context):
    time.sleep(event.get("seconds", 0))
    return {"slept": event.get("seconds", 0), "pid": os.getpid()}


def crash(event, context):
    if event.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"pid": os.getpid()}


def hog(event, context):
    block = bytearray(event["mb"] << 20)
    return {"allocated": len(block) >> 20}


def hold(event, context):
    """Memory written to (resident) in 8 MB steps, within the address-space
    limit, held for a while: only the resident-size limit can stop it."""
    blocks = []
    for _ in range(event["mb"] // 8):
        blocks.append(b"\x01" * (8 << 20))
        time.sleep(0.01)
    time.sleep(event.get("holdSeconds", 0))
    print("hold: %d MB held" % (len(blocks) * 8))
    return {"held": len(blocks) * 8}


def catch_memory_error(event, context):
    """A MemoryError the handler catches itself is the handler's business."""
    try:
        block = bytearray(event["mb"] << 20)
        return {"allocated": len(block) >> 20}
    except MemoryError:
        return {"caught": "MemoryError"}
