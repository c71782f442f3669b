//! Roles, their wiring in one place, configuration composition and process lifecycle.
