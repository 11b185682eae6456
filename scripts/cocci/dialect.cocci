// The C dialect of CONTRIBUTING.md, as coccinelle rewrites (type-aware: a
// pointer is told from an integer, an object from a type).

// Pointers are compared with NULL, not taken as booleans.
@ptr_not@
expression *E;
@@
- !E
+ E == NULL

@ptr_if@
expression *E;
statement S1, S2;
@@
(
- if (E)
+ if (E != NULL)
  S1 else S2
|
- if (E)
+ if (E != NULL)
  S1
)

@ptr_while@
expression *E;
statement S;
@@
- while (E)
+ while (E != NULL)
  S

@ptr_and@
expression *E;
expression F;
@@
(
- E && F
+ E != NULL && F
|
- F && E
+ F && E != NULL
)

// sizeof of an object without parentheses; of a type with them.
@sizeof_expr@
expression E;
@@
- sizeof(E)
+ sizeof E

@ptr_cond@
expression *E;
expression A, B;
@@
- E ? A : B
+ E != NULL ? A : B

@ptr_or@
expression *E;
expression F;
@@
(
- E || F
+ E != NULL || F
|
- F || E
+ F || E != NULL
)
