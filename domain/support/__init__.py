"""Support tickets: customers open and answer them; admins answer, assign and close them."""
