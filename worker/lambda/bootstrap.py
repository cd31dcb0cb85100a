# SPDX-License-Identifier: MIT
#
# The Python runtime of imgflow-lambda: one process runs one function's
# handler (module.function, as Lambda's Handler names it) for one
# invocation at a time, the way a Lambda execution environment does.
#
# imgflow-lambda starts it with the function's directory as LAMBDA_TASK_ROOT
# and two pipes: requests on fd IMGFLOW_LAMBDA_FD_IN, answers on fd
# IMGFLOW_LAMBDA_FD_OUT. A frame is a 4-byte big-endian length and that many
# bytes of JSON:
#
#   runtime -> daemon  {"type": "ready"}  once the handler is imported, or
#                      {"type": "initError", "error": {...}}  and exit
#   daemon -> runtime  {"requestId", "event", "deadlineMs", "functionName",
#                       "functionVersion", "memoryLimitInMB",
#                       "invokedFunctionArn", "logGroupName", "logStreamName"}
#   runtime -> daemon  {"type": "result", "payload": <handler's value>} or
#                      {"type": "error", "error": {"errorMessage",
#                       "errorType", "requestId", "stackTrace"}, "fatal": bool}
#
# The error document is Lambda's for Python (what Step Functions puts in a
# failed Lambda task's cause). End of input: exit 0. A handler's print()
# goes to stdout, which the daemon points at its own stderr (the journal).

import importlib
import json
import os
import struct
import sys
import time
import traceback

FRAME_MAX = 6 * 1024 * 1024  # Lambda's synchronous payload limit


def read_frame(f):
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    if n > FRAME_MAX:
        raise ValueError("frame of %d bytes" % n)
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def write_frame(f, obj):
    data = json.dumps(obj).encode()
    f.write(struct.pack(">I", len(data)) + data)
    f.flush()


def user_frames(tb):
    """The traceback's frames from the first one outside this file on, as
    Lambda's runtime shows them (its own frames left out)."""
    frames = traceback.extract_tb(tb)
    while frames and os.path.abspath(frames[0].filename) == os.path.abspath(__file__):
        frames = frames[1:]
    return traceback.format_list(frames)


def error_doc(exc, request_id):
    doc = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    if request_id is not None:
        doc["requestId"] = request_id
    doc["stackTrace"] = user_frames(exc.__traceback__)
    return doc


def install_endpoint_urls():
    """AWS_ENDPOINT_URL_<SERVICE> for botocore releases before 1.31, which
    read only endpoint_url=: a client made without one gets the variable's."""
    try:
        import botocore
        import botocore.session
    except ImportError:
        return
    try:
        major, minor = (int(x) for x in botocore.__version__.split(".")[:2])
    except ValueError:
        return
    if (major, minor) >= (1, 31):
        return
    names = {"s3": "S3", "stepfunctions": "SFN", "sts": "STS"}
    create = botocore.session.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        if kwargs.get("endpoint_url") is None and len(args) < 5:
            var = names.get(service_name, service_name.upper().replace("-", "_"))
            url = os.environ.get("AWS_ENDPOINT_URL_" + var) or os.environ.get("AWS_ENDPOINT_URL")
            if url:
                kwargs["endpoint_url"] = url
        return create(self, service_name, *args, **kwargs)

    botocore.session.Session.create_client = create_client


class LambdaContext:
    def __init__(self, req):
        self.aws_request_id = req.get("requestId")
        self.function_name = req.get("functionName")
        self.function_version = req.get("functionVersion", "$LATEST")
        self.invoked_function_arn = req.get("invokedFunctionArn")
        # a string, as in Lambda's Python runtime (the variable's value)
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = req.get("logGroupName")
        self.log_stream_name = req.get("logStreamName")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(req.get("deadlineMs") or 0)

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self):
        return "LambdaContext([aws_request_id=%s,function_name=%s])" % (self.aws_request_id, self.function_name)


def load_handler(spec):
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError:
        raise InitError("Runtime.MalformedHandlerName", "Bad handler '%s': not enough values to unpack" % spec)
    modname = modname.replace("/", ".")
    try:
        mod = importlib.import_module(modname)
    except SyntaxError as e:
        raise InitError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e))
    except ImportError as e:
        raise InitError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except Exception as e:
        raise InitError(type(e).__name__, str(e), e)
    fn = getattr(mod, fname, None)
    if fn is None:
        raise InitError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    return fn


class InitError(Exception):
    def __init__(self, error_type, message, cause=None):
        super().__init__(message)
        self.error_type = error_type
        self.cause = cause


def main():
    fin = os.fdopen(int(os.environ["IMGFLOW_LAMBDA_FD_IN"]), "rb", buffering=0)
    fout = os.fdopen(int(os.environ["IMGFLOW_LAMBDA_FD_OUT"]), "wb", buffering=0)
    for k in ("IMGFLOW_LAMBDA_FD_IN", "IMGFLOW_LAMBDA_FD_OUT"):
        os.environ.pop(k, None)
    root = os.environ.get("LAMBDA_TASK_ROOT", ".")
    sys.path.insert(0, root)
    os.chdir(root)
    install_endpoint_urls()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitError as e:
        doc = {"errorMessage": str(e), "errorType": e.error_type, "requestId": "",
               "stackTrace": user_frames(e.cause.__traceback__) if e.cause else []}
        write_frame(fout, {"type": "initError", "error": doc})
        return 1
    write_frame(fout, {"type": "ready"})

    while True:
        req = read_frame(fin)
        if req is None:
            return 0
        rid = req.get("requestId")
        try:
            result = handler(req.get("event"), LambdaContext(req))
        except MemoryError:
            # Past the address-space limit that stands for MemorySize: the
            # end Lambda gives a function over its memory (it kills the
            # runtime), with Lambda's error document. A MemoryError the
            # handler catches itself does not end it.
            doc = {"errorMessage": "RequestId: %s Error: Runtime exited with error: signal: killed" % rid,
                   "errorType": "Runtime.OutOfMemory"}
            write_frame(fout, {"type": "error", "error": doc, "fatal": True})
            return 1
        except Exception as e:
            write_frame(fout, {"type": "error", "error": error_doc(e, rid), "fatal": False})
            continue
        try:
            data = json.dumps({"type": "result", "payload": result}).encode()
        except (TypeError, ValueError) as e:
            doc = {"errorMessage": "Unable to marshal response: %s" % e, "errorType": "Runtime.MarshalError",
                   "requestId": rid, "stackTrace": []}
            write_frame(fout, {"type": "error", "error": doc, "fatal": False})
            continue
        fout.write(struct.pack(">I", len(data)) + data)
        fout.flush()


if __name__ == "__main__":
    sys.exit(main())
