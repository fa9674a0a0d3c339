#include <string.h>

#include "util.h"

unsigned long util_hash(const char *s) {
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

static void reverse(char *a, char *b) {
    while (a < b) {
        char t = *a;
        *a++ = *b;
        *b-- = t;
    }
}

/* Reverses the order of the words in place; returns the number of words. */
size_t util_reverse_words(char *s) {
    size_t n = strlen(s), words = 0;
    if (n == 0)
        return 0;
    reverse(s, s + n - 1);
    char *w = s;
    for (char *p = s;; p++) {
        if (*p == ' ' || *p == '\0') {
            if (p > w) {
                reverse(w, p - 1);
                words++;
            }
            if (*p == '\0')
                break;
            w = p + 1;
        }
    }
    return words;
}
