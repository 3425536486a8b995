"""The host side: job runs, the model registry and deploys. Never runs in an image; stdlib only."""
