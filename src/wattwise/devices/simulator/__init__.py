"""A household simulator: realistic meter readings and ground-truth appliance events."""
