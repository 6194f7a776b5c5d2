"""Chapter 6 — TD-MPC2 (Hansen, Su & Wang, ICLR 2024): an implicit world model (no decoder) + MPPI planning."""
