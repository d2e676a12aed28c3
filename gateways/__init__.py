"""Adapters to outside services, each beside the local stand-in that tests and the demo
run in its place: Stripe (stripe_gateway.py, whose StripeFailure names what a failed call
raises) and its stand-in (stripe_stand_in.py). Imports nothing of the project's own."""
