#!/usr/bin/env python3
"""A Python client of binders on Zenoh, written from docs/scale-out.md only.

Usage: zenoh_client.py ENDPOINT [NAMESPACE]
Joins the Zenoh network at ENDPOINT, finds a binder serving API hello,
calls hello/ping, makes an event, subscribes to it through a verb, pushes
on it and waits for the publication; prints what it saw as one JSON object.
"""
import json
import sys
import threading
import uuid

import zenoh

endpoint = sys.argv[1]
ns = sys.argv[2] if len(sys.argv) > 2 else "afb"

conf = zenoh.Config()
conf.insert_json5("mode", '"peer"')
conf.insert_json5("connect/endpoints", json.dumps([endpoint]))
conf.insert_json5("scouting/multicast/enabled", "false")

out = {}
with zenoh.open(conf) as session:
    # Presence: NS/live/api/API/BINDER, one token per binder serving API.
    binders = []
    for reply in session.liveliness().get(f"{ns}/live/api/hello/*", timeout=10):
        if reply.ok is not None:
            binders.append(str(reply.ok.key_expr).split("/")[-1])
    out["binders"] = binders
    binder = binders[0]
    me = str(uuid.uuid4())

    def call(verb, args):
        """A call: query NS/api/API/BINDER/VERB, JSON payload, JSON attachment."""
        attachment = json.dumps({"session": me})
        for reply in session.get(
            f"{ns}/api/hello/{binder}/{verb}",
            payload=json.dumps(args),
            encoding=zenoh.Encoding.APPLICATION_JSON,
            attachment=attachment,
            timeout=10,
        ):
            if reply.ok is not None:
                att = json.loads(reply.ok.attachment.to_string())
                text = reply.ok.payload.to_string()
                return att, (json.loads(text) if text else None)
            return json.loads(reply.err.payload.to_string()), None
        return {"status": "no-reply"}, None

    att, data = call("ping", {"from": "python"})
    out["ping"] = {"status": att["status"], "data": data, "session": att.get("session")}

    got = threading.Event()
    pushed = []

    def on_sample(sample):
        pushed.append({"key": str(sample.key_expr), "data": json.loads(sample.payload.to_string())})
        got.set()

    # Pushes of event hello/pyev of that binder: NS/event/hello/BINDER/pyev.
    sub = session.declare_subscriber(f"{ns}/event/hello/{binder}/pyev", on_sample)
    att, _ = call("eventadd", {"tag": "py", "name": "pyev"})
    out["eventadd"] = att["status"]
    att, _ = call("eventsub", {"tag": "py"})
    out["eventsub"] = att["status"]
    out["subscribe"] = att.get("subscribe", [])
    att, data = call("eventpush", {"tag": "py", "data": {"n": 42}})
    out["eventpush"] = att["status"]
    got.wait(10)
    out["pushed"] = pushed
    att, _ = call("nosuchverb", None)
    out["unknown"] = att["status"]
    sub.undeclare()

print(json.dumps(out))
