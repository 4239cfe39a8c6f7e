"""The domain: profiles, their validation, status and events, independent of D-Bus."""
