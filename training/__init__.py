"""Training code for the networks of Portrait Editor: data, losses, discriminators, metrics, loops."""
