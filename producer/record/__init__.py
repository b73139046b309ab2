"""From decoded packet fields to a record: payload class, TTL guesses, community id, JSON."""
