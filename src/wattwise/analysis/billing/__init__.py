"""Tariffs, bills, projections, budgets, payments and balance: pure functions over energy."""
