#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Prints the SigV4 cases of test-sigv4.c: each request signed by botocore's
# SigV4Auth (Debian's python3-botocore), the reference the unit test checks
# api/sigv4.c against. Run it and paste the output over the table there.
import datetime
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime.datetime(2015, 8, 30, 12, 36, 0)

CASES = [
    ("POST", "/", {}, {"Content-Type": "application/x-amz-json-1.0",
                       "X-Amz-Target": "AWSStepFunctions.StartExecution"},
     b'{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:x","input":"{}"}', "states"),
    ("POST", "/", {}, {"Content-Type": "application/x-amz-json-1.0",
                       "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                       "My-Header": "  a   b \t c  "}, b"{}", "states"),
    ("GET", "/", {"b": "2", "a": "x y", "A": "/~+"}, {"X-Amz-Target": "x"}, b"", "service"),
    ("POST", "/./foo/../bar/", {}, {"X-Amz-Target": "x"}, "caf\u00e9 ü".encode(), "states"),
    ("POST", "/", {}, {"X-Amz-Target": "AWSStepFunctions.SendTaskSuccess", "Content-Type": "application/x-amz-json-1.0"},
     b"", "states"),
]


def c_str(s):
    if isinstance(s, bytes):
        s = s.decode("utf-8")
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append("\\x%02x\"\"" % ch)
    return '"' + "".join(out) + '"'


creds = botocore.credentials.Credentials(KEY, SECRET)
for method, path, query, headers, body, service in CASES:
    url = "http://localhost:8083" + path
    req = botocore.awsrequest.AWSRequest(method=method, url=url, params=query, headers=dict(headers), data=body)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = WHEN
        dt.datetime.now.return_value = WHEN
        botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    auth = req.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0]
    hdrs = [("Host", "localhost:8083")] + [(k, v) for k, v in req.headers.items()
                                            if k not in ("Authorization", "Host")]
    print("        {")
    print("                %s, %s, %s," % (c_str(method), c_str(path), c_str(service)))
    print("                { %s }," % ", ".join("{ %s, %s }" % (c_str(k), c_str(v)) for k, v in hdrs))
    print("                { %s }," % ", ".join("{ %s, %s }" % (c_str(k), c_str(v)) for k, v in sorted(query.items())))
    print("                %s," % c_str(body))
    print("                %s," % c_str(signed))
    print("                %s," % c_str(auth))
    print("        },")
