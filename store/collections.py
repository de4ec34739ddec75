"""Every Firestore collection the product reads or writes, named in one place.

`customers` is the users' own and can be renamed (CUSTOMERS_COLLECTION); the others are ours.
"""

ADDRESS_INDEX_COLLECTION = "customer_addresses"
WORKERS_COLLECTION = "workers"
TEMPLATES_COLLECTION = "templates"
