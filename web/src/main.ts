import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { connectTokens, useSession } from './session'
import './style.css'

const app = createApp(App)
app.use(createPinia())
const session = useSession()
session.restore()
connectTokens(session)
router.beforeEach((to) => {
  if (to.name !== 'login' && !session.access) return { name: 'login', query: { next: to.fullPath } }
})
app.use(router)
app.mount('#app')
