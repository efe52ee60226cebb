"""The real edge with one more route that fails, for tests/objecta/test_sentry.py (`uvicorn --factory`)."""

from __future__ import annotations

from litestar import Request, post

from edge.app import create_app as create_edge


@post("/v1/test-only/boom", status_code=200)
async def boom(request: Request, data: dict) -> None:
    # Everything a careless error could carry: the caller's token and cookie, a card, a Stripe key in its text;
    # the password in a local variable and the request's body.
    password = data.get("password")  # noqa: F841 - a local a frame could show
    raise RuntimeError(f"boom: authorization={request.headers.get('authorization')}; "
                       f"cookie={request.headers.get('cookie')}; card {data.get('card')} key {data.get('stripe_key')}")


def create_app():
    app = create_edge()
    app.register(boom)
    return app
