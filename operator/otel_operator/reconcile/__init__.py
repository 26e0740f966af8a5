"""kopf handlers: thin adapters from cluster events to the pure builders."""
