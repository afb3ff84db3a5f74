"""The Backstage entity model: refs, entities, validation, relations, and catalog sources."""
