"""ProviderService: one adapter per provider (veo, fal, runway, sim) behind one interface."""
