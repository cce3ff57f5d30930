"""Staff sign-in (HR and administrators) and the identity of the person behind a request."""
