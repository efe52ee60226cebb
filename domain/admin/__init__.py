"""The admin realm: admin users with TOTP, their sessions, permissions, the audit log and the customers view."""
