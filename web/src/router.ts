// Deep links: /a/<action>?view=list&q=..&sort=..&page=.. and /a/<action>/<id|new>.
import { createRouter, createWebHistory } from 'vue-router'

export const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue') },
    { path: '/', name: 'home', component: () => import('./pages/HomePage.vue') },
    { path: '/a/:action', name: 'list', component: () => import('./pages/ActionPage.vue') },
    { path: '/a/:action/:id', name: 'form', component: () => import('./pages/ActionPage.vue') },
    { path: '/admin/modules', name: 'modules', component: () => import('./pages/ModulesPage.vue') },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})
