/** Shared by the consumer unit tests (not a test file itself). */
import { Lease } from '../../lib/consumer/lease-table';

/** An in-memory lease table with DynamoDB's conditional semantics (for the pure taker logic). */
export class MemoryTable {
    leases = new Map<string, Lease>();
    async delete(key: string): Promise<void> { this.leases.delete(key); }
    async list(): Promise<Lease[]> { return [...this.leases.values()].map((l) => ({ ...l })); }
    async get(key: string): Promise<Lease | undefined> { const l = this.leases.get(key); return l && { ...l }; }
    async create(l: Lease): Promise<boolean> {
        if (this.leases.has(l.leaseKey)) return false;
        this.leases.set(l.leaseKey, { ...l });
        return true;
    }
    private cas(l: Lease, f: (cur: Lease) => Lease | undefined): Lease | undefined {
        const cur = this.leases.get(l.leaseKey);
        if (!cur || cur.leaseCounter !== l.leaseCounter) return undefined;
        const next = f({ ...cur });
        if (!next) return undefined;
        next.leaseCounter = cur.leaseCounter + 1;
        this.leases.set(l.leaseKey, next);
        return { ...next };
    }
    async take(l: Lease, owner: string) { return this.cas(l, (c) => ({ ...c, leaseOwner: owner, checkpointOwner: undefined })); }
    async renew(l: Lease, owner: string) { return this.cas(l, (c) => (c.leaseOwner === owner ? c : undefined)); }
    async transfer(l: Lease, owner: string, to: string) { return this.cas(l, (c) => (c.leaseOwner === owner ? { ...c, leaseOwner: to, checkpointOwner: undefined } : undefined)); }
    async checkpoint(l: Lease, owner: string, checkpoint: string, sub: number) { return this.cas(l, (c) => (c.leaseOwner === owner ? { ...c, checkpoint, checkpointSubSequenceNumber: sub } : undefined)); }
    async release(l: Lease, owner: string) { return this.cas(l, (c) => (c.leaseOwner === owner ? { ...c, leaseOwner: undefined, checkpointOwner: undefined } : undefined)); }
    /** Another worker's write on a lease (its take or renewal): a new counter, maybe a new owner. */
    bump(key: string, owner?: string): void {
        const cur = this.leases.get(key)!;
        this.leases.set(key, { ...cur, leaseCounter: cur.leaseCounter + 1, leaseOwner: owner ?? cur.leaseOwner, ...(owner && owner !== cur.leaseOwner ? { checkpointOwner: undefined } : {}) });
    }
    async requestHandOff(l: Lease, requester: string) {
        const cur = this.leases.get(l.leaseKey);
        if (!cur || cur.leaseCounter !== l.leaseCounter) return false;
        cur.checkpointOwner = requester;
        return true;
    }
}
