"""A webhook receiver for Pipelogiq's alerts: checks each notification's signature, drops
deliveries it has seen, and prints the rest. Standard library only.

    PIPELOGIQ_WEBHOOK_SECRET=the-channel-secret python examples/alerts/receiver.py 9000
"""

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["PIPELOGIQ_WEBHOOK_SECRET"].encode()
seen: set[str] = set()  # keep these in your database to survive a restart


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Pipelogiq-Signature", "")):
            self.send_response(401)  # not from Pipelogiq, or another secret
            self.end_headers()
            return
        delivery = self.headers["X-Pipelogiq-Delivery"]
        if delivery not in seen:  # a delivery may come twice: at least once
            seen.add(delivery)
            event = json.loads(body)
            if "alert" in event:  # alert.opened, alert.acknowledged, alert.resolved
                alert = event["alert"]
                print(event["event"], alert["severity"], alert["summary"], flush=True)
            elif "digest" in event:  # alert.digest: a storm, folded
                print(event["event"], event["digest"]["summary"], flush=True)
            else:  # test: "send a test" on the channel
                print(event["event"], event["application"]["name"], flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", int(sys.argv[1])), Receiver).serve_forever()
