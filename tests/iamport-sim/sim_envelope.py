"""iamport's answer shape as the state methods return it: (http_status, code, message, response),
which the HTTP layer wraps as the envelope `{code, message, response}`."""


def ok(response, status=200):
    return status, 0, "", response


def fail(message, code=1, status=200):
    return status, code, message, None
