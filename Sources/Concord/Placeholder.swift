// placeholder: replaced by the bundle work
