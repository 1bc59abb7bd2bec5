"""Store tiers: site stores behind the user's, and stores a group shares."""
