"""The admin realm's HTTP routes (`/admin/v1/...`): their own tokens, guard and audit log (docs/admin.md)."""
