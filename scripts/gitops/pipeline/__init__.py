"""The local rehearsal: LocalStack, the database stand-in, and the stages up -> smoke -> down."""
