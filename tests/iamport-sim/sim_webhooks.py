"""Webhook delivery like iamport's: `{imp_uid, merchant_uid, status}` posted to every notice_url
of the payment, from a background thread, as JSON or as form data. Each delivery is recorded."""

import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# iamport waits 10 s to connect and 30 s for the answer; the simulator uses one shorter limit so
# a test's unresponsive receiver does not hold the queue for long.
DELIVERY_TIMEOUT_SECONDS = 10


class WebhookSender:
    def __init__(self, body_format="json"):
        self.body_format = body_format
        self.deliveries = []
        self.lock = threading.Lock()
        self.queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self.thread.start()

    def enqueue(self, urls, imp_uid, merchant_uid, status, extra=None):
        body = {"imp_uid": imp_uid, "merchant_uid": merchant_uid, "status": status}
        body.update(extra or {})
        for url in urls:
            self.queue.put((url, body))

    def log(self):
        with self.lock:
            return list(self.deliveries)

    def clear(self):
        with self.lock:
            self.deliveries.clear()

    def pending(self):
        return self.queue.unfinished_tasks

    def _run(self):
        while True:
            url, body = self.queue.get()
            try:
                self._deliver(url, body)
            finally:
                self.queue.task_done()

    def _deliver(self, url, body):
        if self.body_format == "form":
            data = urllib.parse.urlencode(body).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            content_type = "application/json"
        record = {"url": url, "body": body, "content_type": content_type,
                  "time": int(time.time()), "http_status": None, "error": None}
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": content_type,
                                                  "User-Agent": "iamport-sim-webhook"})
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as answer:
                record["http_status"] = answer.status
        except urllib.error.HTTPError as error:
            record["http_status"] = error.code
        except Exception as error:  # network errors are recorded, as iamport logs them
            record["error"] = str(error)
        with self.lock:
            self.deliveries.append(record)
