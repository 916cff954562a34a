// list.ts
//
// The value of a Redis list: a ring buffer of binary strings with O(1) pushes and pops at both
// ends and O(1) access by index (LINDEX, LRANGE). It grows by doubling and never holds an
// empty list: the database deletes a list's key when its last element is popped.

export class RedisList {
  private items: (string | undefined)[] = new Array<string | undefined>(8);
  private head = 0;
  private count = 0;

  /** Number of elements. */
  get length(): number {
    return this.count;
  }

  /** Add at the tail (RPUSH). */
  pushRight(value: string): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = value;
    this.count++;
  }

  /** Add at the head (LPUSH). */
  pushLeft(value: string): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = value;
    this.count++;
  }

  /** Remove and return the head; the list must not be empty. */
  popLeft(): string {
    const value = this.items[this.head] as string;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return value;
  }

  /** Remove and return the tail; the list must not be empty. */
  popRight(): string {
    const at = (this.head + this.count - 1) & (this.items.length - 1);
    const value = this.items[at] as string;
    this.items[at] = undefined;
    this.count--;
    return value;
  }

  /** The element at `index` (0 is the head), which must be in range. */
  at(index: number): string {
    return this.items[(this.head + index) & (this.items.length - 1)] as string;
  }

  private grow(): void {
    const next = new Array<string | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.at(i);
    this.items = next;
    this.head = 0;
  }
}
