"""Team: invitations by email, roles with permission guards, members and the activity log."""
