"""Everything that leaves the building: email now, webhooks next. Reads the events journal."""
