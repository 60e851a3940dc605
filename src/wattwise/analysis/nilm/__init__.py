"""Non-intrusive load monitoring: events, runs, signatures, identification, energy."""
