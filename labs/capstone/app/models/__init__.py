"""What crosses the boundary: what clients send and what they get back."""
