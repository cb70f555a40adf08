"""The one interface every model call goes through, and its implementations."""
