-- Packets whose claim set is final but whose credits may still be owed (issue 24): every share claimed and the
-- packet still open, or closed by settlement (refund posted) with uncredited claims left to the pumps. A pump
-- finishes such a packet once its last claim is credited; when that mark or its "all credited" signal was
-- lost (two pump attempts racing, the large-claim credit in the open path, a mark that timed out after the
-- credit committed), the pump's periodic look at this small index finds the packet again.
CREATE INDEX packets_awaiting_credit ON packets (id)
  WHERE status = 'closed' OR (status = 'open' AND remaining_count = 0);
