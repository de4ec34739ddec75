"""Everything that touches Firestore: customer profiles and the address index derived from them."""
