"""Plain types and physical rules shared by every layer; imports nothing else of ours."""
