# tests/dns - test DNS (a private unbound on loopback serving test zones) and the small
# protocol clients the relay and topology tests use.
