"""What only development and the demo use: demo data and the development mailbox."""
