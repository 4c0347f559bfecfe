"""One module per `detector` sub-command; each is a thin shell over the library modules."""
