//! Watches live on the member that holds the connection; this registry maps changes to notifications.
