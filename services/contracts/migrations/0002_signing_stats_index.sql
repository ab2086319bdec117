-- Signing statistics (GetSigningStats) by owner or department over a signing-date
-- range; the whole company uses idx_contracts_signing.
CREATE INDEX idx_contracts_owner_signing ON contracts (owner_id, signing_date);
CREATE INDEX idx_contracts_department_signing ON contracts (department_id, signing_date);
