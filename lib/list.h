/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Intrusive doubly linked lists, systemd's list.h in miniature: an item has
 * "prev" and "next" pointers to its own type, the list is a pointer to its
 * first item. Both are O(1); removing an item that is not in the list (both
 * pointers NULL, not the head) does nothing.
 *
 *   LIST_PREPEND(head, item)   item becomes the first
 *   LIST_REMOVE(head, item)    item leaves; its pointers are NULL again
 */

#define LIST_PREPEND(head, item)                                                                     \
        do {                                                                                         \
                __typeof__(*(head)) **_h = &(head), *_i = (item);                                    \
                _i->prev = NULL;                                                                     \
                _i->next = *_h;                                                                      \
                if (*_h)                                                                             \
                        (*_h)->prev = _i;                                                            \
                *_h = _i;                                                                            \
        } while (0)

#define LIST_REMOVE(head, item)                                                                      \
        do {                                                                                         \
                __typeof__(*(head)) **_h = &(head), *_i = (item);                                    \
                if (_i->prev)                                                                        \
                        _i->prev->next = _i->next;                                                   \
                else if (*_h == _i)                                                                  \
                        *_h = _i->next;                                                              \
                if (_i->next)                                                                        \
                        _i->next->prev = _i->prev;                                                   \
                _i->prev = _i->next = NULL;                                                          \
        } while (0)
