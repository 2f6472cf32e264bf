"""Capstone — the IT help desk's assistant, production-ready: Labs 1 to 10 in one service."""
