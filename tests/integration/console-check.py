#!/usr/bin/env python3
# The console's checks for test-console.sh (which says what the stack
# holds): first its protocol with urllib, then the page in headless
# Chromium (Debian's chromium) over the DevTools protocol (Debian's
# python3-websocket). Exit 0, 1 on a failed check, 77 when Chromium or the
# websocket module is not installed (after the protocol checks passed).
#
# Environment: CONSOLE_URL, ADMIN_KEY/ADMIN_SECRET, VIEWER_KEY/VIEWER_SECRET,
# CONSOLE_SHOTS (where the screenshots go), CONSOLE_TMP (Chromium's
# profile), CONSOLE_START (a command that starts the 4 s execution
# "pause:running").
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

URL = os.environ["CONSOLE_URL"]
FAILS = 0


def check(ok, what):
    global FAILS
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS += 1
    return ok


def request(path, body=None, headers=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, headers=headers or {}, method=method)
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def login(key, secret):
    status, headers, body = request("/console/login", {"accessKeyId": key, "secretAccessKey": secret})
    cookie = headers.get("Set-Cookie", "")
    return status, cookie, json.loads(body or b"{}")


def api(cookie, csrf, op, body):
    h = {"Cookie": cookie.split(";")[0], "X-Amz-Target": "AWSStepFunctions." + op,
         "Content-Type": "application/x-amz-json-1.0"}
    if csrf:
        h["X-CSRF-Token"] = csrf
    status, _, out = request("/console/api", body, h)
    return status, json.loads(out or b"{}")


def protocol():
    status, _, page = request("/console/")
    check(status == 200 and b"console.js" in page, "GET /console/ serves the page")
    status, headers, _ = request("/console/console.js")
    check(status == 200 and "javascript" in headers.get("Content-Type", ""), "GET /console/console.js")
    check(request("/console/../api-keys.json")[0] == 404, "a path outside the console's files is 404")

    status, cookie, out = login(os.environ["ADMIN_KEY"], "wrong" + os.environ["ADMIN_SECRET"])
    check(status == 403 and not cookie and out.get("__type") == "UnrecognizedClientException",
          "a wrong secret gets no session: %s %s" % (status, out.get("__type")))
    status, cookie, out = login(os.environ["ADMIN_KEY"], os.environ["ADMIN_SECRET"])
    check(status == 200 and out.get("user") == "admin" and len(out.get("csrfToken", "")) == 64,
          "sign-in as admin: %s" % status)
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="):
        check(attr in cookie, "the session cookie has %s" % attr)
    csrf = out.get("csrfToken")

    status, out = api(cookie, None, "ListStateMachines", {})
    check(status == 403 and out.get("__type") == "InvalidCsrfToken", "/console/api without X-CSRF-Token: 403")
    status, out = api(cookie, "0" * 64, "ListStateMachines", {})
    check(status == 403, "/console/api with a wrong X-CSRF-Token: 403")
    status, out = api("imgflow_console=AKIAIMGFLOWCONSOLE01.9999999999." + "0" * 64, csrf, "ListStateMachines", {})
    check(status == 401, "a forged session cookie: 401")
    status, out = api(cookie, csrf, "ListStateMachines", {})
    names = sorted(m["name"] for m in out.get("stateMachines", []))
    check(status == 200 and names == ["image-pipeline", "maprun", "pause"], "ListStateMachines as admin: %s" % names)
    status, sess_headers, sess = request("/console/session", headers={"Cookie": cookie.split(";")[0]})
    check(status == 200 and json.loads(sess).get("csrfToken") == csrf, "GET /console/session gives the same token")

    status, vcookie, vout = login(os.environ["VIEWER_KEY"], os.environ["VIEWER_SECRET"])
    check(status == 200, "sign-in as viewer")
    arn = "arn:aws:states:us-east-1:123456789012:execution:image-pipeline:missing"
    status, out = api(vcookie, vout.get("csrfToken"), "DescribeExecution", {"executionArn": arn})
    check(status == 200 and out.get("status") == "FAILED", "viewer: DescribeExecution of the failed one")
    status, out = api(vcookie, vout.get("csrfToken"), "RedriveExecution", {"executionArn": arn})
    check(status == 400 and out.get("__type") == "AccessDeniedException",
          "viewer: RedriveExecution is AccessDeniedException by its policy: %s %s" % (status, out.get("__type")))
    status, out = api(vcookie, vout.get("csrfToken"), "StartExecution",
                      {"stateMachineArn": arn.replace("execution", "stateMachine").rsplit(":", 1)[0]})
    check(out.get("__type") == "AccessDeniedException", "viewer: StartExecution is AccessDeniedException")

    # The graph of the failed execution, as the page asks for it.
    _, sm = api(cookie, csrf, "DescribeStateMachineForExecution", {"executionArn": arn})
    _, hist = api(cookie, csrf, "GetExecutionHistory", {"executionArn": arn, "maxResults": 1000})
    h = {"Cookie": cookie.split(";")[0], "X-CSRF-Token": csrf}
    status, _, g = request("/console/graph", {"definition": sm.get("definition"), "events": hist.get("events")}, h)
    g = json.loads(g or b"{}")
    states = g.get("states", {})
    check(status == 200 and g.get("execution") == "FAILED", "POST /console/graph: %s %s" % (status, g.get("execution")))
    check(states.get("ValidateImage", {}).get("status") == "caught" and states.get("Failed", {}).get("status") == "failed"
          and states.get("OptimizeImage", {}).get("status") == "not-reached",
          "the graph's states: ValidateImage caught, Failed failed, OptimizeImage not reached (%s)" %
          {k: v.get("status") for k, v in states.items()})
    check('class="node state failed"' in g.get("svg", ""), "the SVG marks the Fail state failed")
    status, _, _ = request("/console/graph", {"definition": sm.get("definition"), "events": []},
                           {"Cookie": cookie.split(";")[0]})
    check(status == 403, "POST /console/graph without X-CSRF-Token: 403")

    # A Map Run's failed items, under states:DescribeMapRun.
    marn = "arn:aws:states:us-east-1:123456789012:execution:maprun:thumbs"
    status, runs = api(cookie, csrf, "ListMapRuns", {"executionArn": marn})
    mr = (runs.get("mapRuns") or [{}])[0].get("mapRunArn", "")
    check(status == 200 and ":mapRun:maprun/thumbs:" in mr, "ListMapRuns of maprun:thumbs: %s" % mr)
    h = {"Cookie": cookie.split(";")[0], "X-CSRF-Token": csrf}
    status, _, out = request("/console/map-run-failures", {"mapRunArn": mr}, h)
    failures = json.loads(out or b"{}").get("failures", [])
    check(status == 200 and sorted(f.get("index") for f in failures) == [1, 3] and
          all(f.get("error") == "Image.Invalid" for f in failures) and
          sorted(f.get("cause") for f in failures) == ["not a JPEG: b.jpg", "not a JPEG: d.jpg"],
          "POST /console/map-run-failures: items 1 and 3 with their error and cause (%s %s)" % (status, failures))
    status, _, _ = request("/console/map-run-failures", {"mapRunArn": mr}, {"Cookie": cookie.split(";")[0]})
    check(status == 403, "POST /console/map-run-failures without X-CSRF-Token: 403")
    status, _, out = request("/console/map-run-failures", {"mapRunArn": mr[:-4] + "0000"}, h)
    check(json.loads(out or b"{}").get("__type") == "ResourceNotFound",
          "an unknown Map Run's failures: %s ResourceNotFound" % status)

    # Thumbnails: a scaled JPEG under s3:GetObject, never the original.
    photo = os.environ["CONSOLE_PHOTO"]
    q = "/console/thumbnail?bucket=photos&key=" + urllib.parse.quote(photo)
    status, headers, jpeg = request(q, headers={"Cookie": cookie.split(";")[0]})
    w, h = jpeg_size(jpeg) if status == 200 else (0, 0)
    check(status == 200 and headers.get("Content-Type") == "image/jpeg" and 0 < max(w, h) <= 320,
          "a thumbnail of %s: %s %s %dx%d" % (photo, status, headers.get("Content-Type"), w, h))
    status, _, _ = request(q, headers={"Cookie": vcookie.split(";")[0]})
    check(status == 403, "viewer (no s3:GetObject): the thumbnail is 403")
    status, _, _ = request(q)
    check(status == 401, "no session: the thumbnail is 401")
    status, _, out = request("/console/thumbnail?bucket=photos&key=raw/not-there.jpg",
                             headers={"Cookie": cookie.split(";")[0]})
    check(status == 404, "a missing object's thumbnail is 404: %s %s" % (status, out[:100]))
    status, _, _ = request("/console/thumbnail?bucket=photos&key=../api-keys.json", headers={"Cookie": cookie.split(";")[0]})
    check(status == 400, "a key that leaves the bucket is 400")
    # A bucket name with a '/' would name another object to IAM
    # (arn:aws:s3:::photos/raw + key = photos' raw/...) than the one read.
    status, _, out = request("/console/thumbnail?bucket=photos%2Fraw&key=" + urllib.parse.quote(photo.split("/")[-1]),
                             headers={"Cookie": cookie.split(";")[0]})
    check(status == 400 and b"Invalid bucket" in out, "a bucket name with a '/' is 400: %s %s" % (status, out[:100]))
    # A session cookie changed at one byte, or with its expiry written
    # another way, is not a session.
    value = cookie.split(";")[0].split("=", 1)[1]
    key_id, expiry, mac = value.split(".")
    for forged in ("%s.%s.%s" % (key_id, expiry, mac[:-1] + ("0" if mac[-1] != "0" else "1")),
                   "%s.+%s.%s" % (key_id, expiry, mac), "%s.0%s.%s" % (key_id, expiry, mac)):
        status, _, _ = request("/console/session", headers={"Cookie": "imgflow_console=" + forged})
        check(status == 401, "a forged session %s...: 401" % forged[-20:])


def jpeg_size(data):
    """Width and height from a JPEG's SOF marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return 0, 0
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    return 0, 0


# ---- the page in Chromium ----

class Browser:
    def __init__(self, websocket):
        self.tmp = os.path.join(os.environ["CONSOLE_TMP"], "chromium")
        os.makedirs(self.tmp, exist_ok=True)
        chromium = shutil.which("chromium")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "--user-data-dir=" + self.tmp, "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "chromium.log"), "w"))
        port_file = os.path.join(self.tmp, "DevToolsActivePort")
        deadline = time.time() + 60
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start (see %s/chromium.log)" % self.tmp)
            time.sleep(0.2)
        port = open(port_file).read().split()[0]
        with urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port, timeout=30) as r:
            page = [t for t in json.load(r) if t["type"] == "page"][0]
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if self.js(expr):
                    return True
            except RuntimeError:
                pass
            time.sleep(0.25)
        return False

    def shot(self, name):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path = os.path.join(os.environ["CONSOLE_SHOTS"], name)
        with open(path, "wb") as f:
            f.write(png)
        return path

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def browser():
    try:
        import websocket
    except ImportError:
        print("python3-websocket missing (deploy/setup-debian.sh): the browser checks are skipped")
        return 77
    if not shutil.which("chromium"):
        print("chromium missing (deploy/setup-debian.sh): the browser checks are skipped")
        return 77
    b = Browser(websocket)
    try:
        b.call("Page.enable")
        b.call("Page.navigate", url=URL + "/console/")
        check(b.wait("!document.querySelector('#login').hidden"), "the page asks to sign in")
        b.js("""(() => { const f = document.querySelector('#login-form');
                 f.accessKeyId.value = %s; f.secretAccessKey.value = %s; f.requestSubmit(); })()"""
             % (json.dumps(os.environ["ADMIN_KEY"]), json.dumps(os.environ["ADMIN_SECRET"])))
        check(b.wait("document.querySelectorAll('#executions tbody tr').length >= 2"),
              "the execution list shows (%s)" % b.js("document.querySelector('#counts').textContent"))
        check(b.js("document.cookie") == "", "the session cookie is not readable by the page (HttpOnly)")
        counts = b.js("[...document.querySelectorAll('#counts .status')].map(s => s.textContent).join(',')")
        check("FAILED: 1" in (counts or "") and "SUCCEEDED: 2" in (counts or ""), "the counts by status: %s" % counts)
        b.js("document.querySelector('#filters').status.value = 'FAILED';"
             "document.querySelector('#filters').dispatchEvent(new Event('change'))")
        check(b.wait("document.querySelectorAll('#executions tbody tr').length == 1 &&"
                     "document.querySelector('#executions tbody tr').dataset.status == 'FAILED'"),
              "the status filter leaves the failed execution")
        b.js("document.querySelector('#filters').status.value = '';"
             "document.querySelector('#filters').dispatchEvent(new Event('change'))")
        b.wait("document.querySelectorAll('#executions tbody tr').length >= 2")
        print("screenshot", b.shot("console-executions.png"))

        arn = "arn:aws:states:us-east-1:123456789012:execution:image-pipeline:missing"
        b.js("location.hash = '#/execution/' + encodeURIComponent(%s)" % json.dumps(arn))
        check(b.wait("document.querySelector('#graph svg') != null"), "the failed execution's graph shows")
        check(b.js("document.getElementById('state-Failed').classList.contains('failed')"),
              "the Fail state's node is marked failed")
        check(b.js("document.getElementById('state-ValidateImage').classList.contains('caught')"),
              "ValidateImage's node is marked caught")
        check(b.js("document.querySelectorAll('#history tbody tr').length") >= 5, "the history table shows")
        b.js("document.getElementById('state-ValidateImage').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        check(b.wait("document.querySelector('#detail pre.error') != null"), "clicking a state shows its error")
        err = b.js("document.querySelector('#detail pre.error').textContent")
        check(bool(err), "ValidateImage's error: %s" % err)
        check(not b.js("document.querySelector('#redrive').hidden"), "a failed execution offers Redrive")
        print("screenshot", b.shot("console-execution.png"))

        good = "arn:aws:states:us-east-1:123456789012:execution:image-pipeline:good"
        b.js("location.hash = '#/execution/' + encodeURIComponent(%s)" % json.dumps(good))
        b.wait("document.body.dataset.execStatus == 'SUCCEEDED' && document.getElementById('state-ValidateImage')")
        b.js("document.getElementById('state-ValidateImage').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        check(b.wait("(() => { const i = document.querySelector('#detail img.thumb');"
                     " return i && i.complete && i.naturalWidth > 0; })()", 30),
              "a thumbnail of the photo loads in the state's details")
        size = b.js("(() => { const i = document.querySelector('#detail img.thumb'); return [i.naturalWidth, i.naturalHeight]; })()")
        check(size and 0 < max(size) <= 320, "the thumbnail is scaled: %s" % size)
        print("screenshot", b.shot("console-thumbnail.png"))

        marn = "arn:aws:states:us-east-1:123456789012:execution:maprun:thumbs"
        b.js("location.hash = '#/execution/' + encodeURIComponent(%s)" % json.dumps(marn))
        check(b.wait("document.querySelector('#mapruns .maprun') != null && !document.querySelector('#mapruns').hidden", 30),
              "the execution's Map Runs show")
        bar = b.js("[...document.querySelectorAll('#mapruns .maprun .bar span')].map(s => s.className + '=' + s.dataset.count"
                   " + '@' + Math.round(parseFloat(s.style.width))).join(',')")
        check(bar == "succeeded=3@60,failed=2@40,running=0@0,pending=0@0",
              "the progress bar: succeeded, failed, running, pending of the total (%s)" % bar)
        check(b.js("document.querySelector('#mapruns .maprun').dataset.status") == "SUCCEEDED", "the Map Run is SUCCEEDED")
        rows = b.js("[...document.querySelectorAll('#mapruns table.failures tbody tr')].map(r => r.dataset.index + ':' +"
                    " r.querySelector('.error').textContent + ':' + r.querySelector('.cause').textContent).join('|')")
        check(rows in ("1:Image.Invalid:not a JPEG: b.jpg|3:Image.Invalid:not a JPEG: d.jpg",
                       "3:Image.Invalid:not a JPEG: d.jpg|1:Image.Invalid:not a JPEG: b.jpg"),
              "the failed items with their error and cause: %s" % rows)
        b.js("document.querySelector('#mapruns').scrollIntoView()")
        print("screenshot", b.shot("console-mapruns.png"))

        subprocess.run(os.environ["CONSOLE_START"], shell=True, check=True, stdout=subprocess.DEVNULL, timeout=60)
        running = "arn:aws:states:us-east-1:123456789012:execution:pause:running"
        b.js("location.hash = '#/execution/' + encodeURIComponent(%s)" % json.dumps(running))
        check(b.wait("document.body.dataset.execStatus == 'RUNNING' && document.getElementById('state-Pause') &&"
                     "document.getElementById('state-Pause').classList.contains('running')", 30),
              "the running execution shows its Wait state running")
        check(b.wait("document.body.dataset.execStatus == 'SUCCEEDED' && Number(document.body.dataset.liveUpdates) >= 1 &&"
                     "document.getElementById('state-Done').classList.contains('succeeded')", 60),
              "the live update arrives: the execution succeeded and Done is marked succeeded without a reload")
    finally:
        b.close()
    return 0


def main():
    protocol()
    if FAILS:
        return 1
    rc = browser()
    if FAILS:
        return 1
    print("console: all checks passed")
    return rc


sys.exit(main())
