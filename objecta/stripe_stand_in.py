"""`python -m objecta.stripe_stand_in --port N --from-scratch`: the Stripe stand-in, on loopback only.

localstripe binds every interface (`::`) and has no option to say otherwise, while it takes any key and
lets whoever reaches it create objects that send our edge signed webhooks (issue 14, finding 6). This
process runs it with wildcard binds turned into loopback ones, then hands over to localstripe's own
entry point. It is the stand-in's process, started by `objecta.embedded.start_localstripe` for
development and tests only; nothing of ours imports localstripe (docs/decisions.md, 78).
"""

from __future__ import annotations

import runpy
import socket
import sys

WILDCARDS = ("", "::", "0.0.0.0")
_bind = socket.socket.bind


def _bind_loopback(self: socket.socket, address):
    if isinstance(address, tuple) and address and address[0] in WILDCARDS:
        # An IPv6 socket keeps taking IPv4 clients on 127.0.0.1 through the mapped address, and nobody else.
        host = "::ffff:127.0.0.1" if self.family == socket.AF_INET6 else "127.0.0.1"
        address = (host, *address[1:])
    return _bind(self, address)


def main() -> None:
    socket.socket.bind = _bind_loopback
    sys.argv = ["localstripe", *sys.argv[1:]]
    runpy.run_module("localstripe", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
