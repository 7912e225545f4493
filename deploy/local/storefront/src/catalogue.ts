// What the shop sells. Prices live here, on the server: the page names a product, never a price.
export interface Product {
  id: string;
  name: string;
  /** whole won */
  price: number;
}

export const PRODUCTS: readonly Product[] = [
  { id: "beans", name: "원두 1kg", price: 32000 },
  { id: "dripper", name: "핸드 드리퍼", price: 18000 },
  { id: "mug", name: "머그컵", price: 9000 },
];

export function findProduct(id: unknown): Product | undefined {
  return PRODUCTS.find((p) => p.id === id);
}
